package server

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/farmwatch/farmwatch/transport"
)

// envAgentChild makes the test binary act as an agent process (see
// TestAgentChild) on the state directory it names.
const envAgentChild = "FARMWATCH_TEST_AGENT_CHILD"

// TestAgentChild is not a test of its own: it is the agent process that
// TestAgentKilledDuringSends runs and kills. It submits reports forever,
// printing each sequence number once Submit returned (the report is then
// durable), and delivers after every few; with mode "drain" it only
// delivers what is queued and exits.
func TestAgentChild(t *testing.T) {
	dir := os.Getenv(envAgentChild)
	if dir == "" {
		t.Skip("helper process for TestAgentKilledDuringSends")
	}
	a := openAgent(t, dir)
	if os.Getenv(envAgentChild+"_MODE") == "drain" {
		a.flush(t)
		fmt.Println("DRAINED")
		return
	}
	for i := 1; ; i++ {
		seq := a.submit(t, transport.NetworkContext{})
		fmt.Printf("Q %d\n", seq)
		if i%5 == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			a.sender.Flush(ctx)
			cancel()
		}
	}
}

// TestAgentKilledDuringSends SIGKILLs a real agent process at random
// moments while it queues and delivers, restarts it, and checks that
// every report it had queued reached the collector exactly once.
func TestAgentKilledDuringSends(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("SIGKILL semantics")
	}
	c := newCollector(t, nil)
	a := c.enroll("LT-1", "")
	a.queue.Close()
	queued := map[uint64]bool{}
	for round := 0; round < 4; round++ {
		cmd := exec.Command(os.Args[0], "-test.run", "^TestAgentChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envAgentChild+"="+a.dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		kill := time.After(time.Duration(150+rand.IntN(400)) * time.Millisecond)
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				if s, found := strings.CutPrefix(l, "Q "); found {
					n, _ := strconv.ParseUint(s, 10, 64)
					queued[n] = true
				}
			case <-kill:
				cmd.Process.Signal(syscall.SIGKILL)
				kill = nil
			}
		}
		cmd.Wait()
	}
	if len(queued) < 10 {
		t.Fatalf("only %d reports queued before the kills; the child did not run", len(queued))
	}
	// Restart once more to deliver what is left.
	cmd := exec.Command(os.Args[0], "-test.run", "^TestAgentChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), envAgentChild+"="+a.dir, envAgentChild+"_MODE=drain")
	outb, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(outb), "DRAINED") {
		t.Fatalf("drain: %v\n%s", err, outb)
	}
	stored := map[uint64]int{}
	for _, r := range c.reports(a.state.Key.DeviceID()) {
		stored[r.Seq]++
	}
	for s := range queued {
		if stored[s] != 1 {
			t.Errorf("seq %d queued, stored %d times", s, stored[s])
		}
	}
	for s, n := range stored {
		if n != 1 {
			t.Errorf("seq %d stored %d times", s, n)
		}
	}
	t.Logf("%d reports queued across 4 killed runs; %d stored, each once", len(queued), len(stored))
}
