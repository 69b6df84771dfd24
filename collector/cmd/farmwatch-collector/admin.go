package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/farmwatch/farmwatch/collector/api"
	"github.com/farmwatch/farmwatch/collector/auth"
	"github.com/farmwatch/farmwatch/collector/roster"
	"github.com/farmwatch/farmwatch/collector/server"
	"github.com/farmwatch/farmwatch/collector/store"
	"github.com/farmwatch/farmwatch/detectors"
)

// withStore runs fn with the configured store open, closing it after.
func (e *env) withStore(cmd *cobra.Command, fn func(ctx context.Context, cfg *server.Config, st store.Store) error) error {
	cfg, st, _, err := e.open(cmd.Context())
	if err != nil {
		return err
	}
	defer st.Close()
	return fn(cmd.Context(), cfg, st)
}

// every walks all pages of a listing.
func every[T any](list func(store.Page) ([]T, string, error)) ([]T, error) {
	var all []T
	for after := ""; ; {
		page, next, err := list(store.Page{Limit: 1000, After: after})
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if next == "" {
			return all, nil
		}
		after = next
	}
}

func table(w io.Writer, header string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, header)
	for _, r := range rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

func ago(t time.Time, now time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return now.Sub(t).Round(time.Second).String() + " ago"
}

func tokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "enrollment tokens: create, list, revoke"}
	var (
		asJSON  bool
		expires time.Duration
		uses    int
		owner   string
		note    string
	)
	create := &cobra.Command{
		Use:   "create",
		Short: "create an enrollment token (shown once)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if expires <= 0 || expires > 365*24*time.Hour {
				return usage("--expires must be between 1s and 8760h")
			}
			if uses < 1 {
				return usage("--uses must be at least 1")
			}
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				tok, id, hash, err := auth.NewSecret(auth.EnrollPrefix)
				if err != nil {
					return err
				}
				now := time.Now().UTC()
				t := store.EnrollToken{ID: id, SecretHash: hash, CreatedAt: now, ExpiresAt: now.Add(expires), MaxUses: uses, CreatedBy: "cli", Owner: owner, Note: note}
				if err := st.CreateToken(ctx, t); err != nil {
					return err
				}
				if err := st.AddAudit(ctx, store.AuditEntry{At: now, Actor: "cli", Action: "token.create", Target: "token:" + id, Detail: fmt.Sprintf("uses=%d expires=%s owner=%s", uses, t.ExpiresAt.Format(time.RFC3339), owner)}); err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, api.NewEnrollToken{EnrollToken: api.EnrollTokenView(t), Token: tok})
				}
				fmt.Fprintf(e.stdout, "%s\n\nid %s, %d use(s), expires %s. Shown once: keep it in your MDM's secret store.\n", tok, id, uses, t.ExpiresAt.Format(time.RFC3339))
				return nil
			})
		},
	}
	create.Flags().DurationVar(&expires, "expires", 24*time.Hour, "validity")
	create.Flags().IntVar(&uses, "uses", 1, "how many devices may enroll with it")
	create.Flags().StringVar(&owner, "owner", "", "owner of the devices enrolled with it (otherwise from the roster)")
	create.Flags().StringVar(&note, "note", "", "free text")
	create.Flags().BoolVar(&asJSON, "json", false, "print JSON")

	var listJSON bool
	list := &cobra.Command{
		Use:   "list",
		Short: "list enrollment tokens",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				ts, err := st.ListTokens(ctx)
				if err != nil {
					return err
				}
				views := make([]api.EnrollToken, 0, len(ts))
				var rows [][]string
				now := time.Now()
				for _, t := range ts {
					views = append(views, api.EnrollTokenView(t))
					state := "active"
					switch {
					case t.Revoked:
						state = "revoked"
					case !now.Before(t.ExpiresAt):
						state = "expired"
					case t.Uses >= t.MaxUses:
						state = "used up"
					}
					rows = append(rows, []string{t.ID, state, fmt.Sprintf("%d/%d", t.Uses, t.MaxUses), t.ExpiresAt.Format(time.RFC3339), t.Owner, t.Note})
				}
				if listJSON {
					return printJSON(e.stdout, views)
				}
				return table(e.stdout, "ID\tSTATE\tUSES\tEXPIRES\tOWNER\tNOTE", rows)
			})
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print JSON")

	revoke := &cobra.Command{
		Use:   "revoke ID",
		Short: "revoke an enrollment token",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				id := args[0]
				if tid, err := auth.TokenID(id); err == nil {
					id = tid
				}
				if err := st.RevokeToken(ctx, id, time.Now()); err != nil {
					return notFound(err, "token", id)
				}
				fmt.Fprintf(e.stdout, "token %s revoked\n", id)
				return st.AddAudit(ctx, store.AuditEntry{At: time.Now(), Actor: "cli", Action: "token.revoke", Target: "token:" + id})
			})
		},
	}
	cmd.AddCommand(create, list, revoke)
	return cmd
}

func notFound(err error, what, id string) error {
	if errors.Is(err, store.ErrNotFound) {
		return usage("no %s %q", what, id)
	}
	return err
}

func devicesCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "devices", Short: "enrolled devices: list, show, revoke"}
	var (
		asJSON bool
		owner  string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "list enrolled devices",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				all, err := every(func(p store.Page) ([]store.Device, string, error) {
					return st.ListDevices(ctx, store.DeviceFilter{Owner: owner}, p)
				})
				if err != nil {
					return err
				}
				if asJSON {
					views := make([]api.Device, 0, len(all))
					for _, d := range all {
						views = append(views, api.DeviceView(d))
					}
					return printJSON(e.stdout, views)
				}
				now := time.Now()
				var rows [][]string
				for _, d := range all {
					state := "ok"
					if d.Revoked {
						state = "revoked"
					}
					sev := "-"
					if d.MaxSeverity >= 0 {
						sev = detectors.Severity(d.MaxSeverity).String()
					}
					rows = append(rows, []string{d.ID, d.Hostname, d.Owner, d.OS + "/" + d.Arch, d.PublicIP, ago(d.LastSeen, now), sev, state})
				}
				return table(e.stdout, "DEVICE\tHOSTNAME\tOWNER\tOS\tPUBLIC IP\tLAST SEEN\tMAX SEVERITY\tSTATE", rows)
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().StringVar(&owner, "owner", "", "only this owner's devices")

	var showJSON bool
	show := &cobra.Command{
		Use:   "show DEVICE",
		Short: "show one device with its latest reports",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				d, err := st.GetDevice(ctx, args[0])
				if err != nil {
					return notFound(err, "device", args[0])
				}
				reports, _, err := st.ListReports(ctx, d.ID, store.Page{Limit: 10})
				if err != nil {
					return err
				}
				findings, _, err := st.ListFindings(ctx, store.FindingFilter{DeviceID: d.ID}, store.Page{Limit: 50})
				if err != nil {
					return err
				}
				out := struct {
					Device   api.Device    `json:"device"`
					Reports  []api.Report  `json:"reports"`
					Findings []api.Finding `json:"findings"`
				}{Device: api.DeviceView(d), Reports: []api.Report{}, Findings: []api.Finding{}}
				for _, r := range reports {
					out.Reports = append(out.Reports, api.ReportView(r))
				}
				for _, f := range findings {
					out.Findings = append(out.Findings, api.FindingView(f))
				}
				if showJSON {
					return printJSON(e.stdout, out)
				}
				now := time.Now()
				fmt.Fprintf(e.stdout, "%s  %s\n  owner %s, %s/%s, agent %s, policy %s\n  enrolled %s, last seen %s from %s, certificate until %s\n",
					d.ID, d.Hostname, orDash(d.Owner), d.OS, d.Arch, orDash(d.AgentVersion), orDash(d.PolicyVersion),
					d.EnrolledAt.Format(time.RFC3339), ago(d.LastSeen, now), orDash(d.PublicIP), d.CertNotAfter.Format(time.RFC3339))
				if d.Revoked {
					fmt.Fprintf(e.stdout, "  REVOKED %s: %s\n", d.RevokedAt.Format(time.RFC3339), d.RevokeReason)
				}
				fmt.Fprintf(e.stdout, "\nLatest reports:\n")
				var rows [][]string
				for _, r := range reports {
					rows = append(rows, []string{strconv.FormatUint(r.Seq, 10), r.Kind, r.ReceivedAt.Format(time.RFC3339), detectors.Severity(r.MaxSeverity).String(), strconv.Itoa(len(r.Findings))})
				}
				if err := table(e.stdout, "SEQ\tKIND\tRECEIVED\tMAX SEVERITY\tFINDINGS", rows); err != nil {
					return err
				}
				fmt.Fprintf(e.stdout, "\nFindings:\n")
				rows = nil
				for _, f := range findings {
					rows = append(rows, []string{detectors.Severity(f.Severity).String(), f.Rule, f.Title})
				}
				return table(e.stdout, "SEVERITY\tRULE\tTITLE", rows)
			})
		},
	}
	show.Flags().BoolVar(&showJSON, "json", false, "print JSON")

	var reason string
	revoke := &cobra.Command{
		Use:   "revoke DEVICE --reason TEXT",
		Short: "revoke a device: its certificate stops working at once and it cannot renew or re-enroll",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usage("--reason is required (it is shown to the agent and kept in the audit log)")
			}
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				now := time.Now()
				if err := st.RevokeDevice(ctx, args[0], reason, now); err != nil {
					return notFound(err, "device", args[0])
				}
				fmt.Fprintf(e.stdout, "device %s revoked\n", args[0])
				return st.AddAudit(ctx, store.AuditEntry{At: now, Actor: "cli", Action: "device.revoke", Target: "device:" + args[0], Detail: reason})
			})
		},
	}
	revoke.Flags().StringVar(&reason, "reason", "", "why (required)")
	cmd.AddCommand(list, show, revoke)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func alertsCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "alerts", Short: "SOC alerts: list, ack"}
	var (
		asJSON bool
		status string
		kind   string
		minSev string
	)
	list := &cobra.Command{
		Use:   "list",
		Short: "list alerts, newest first (default: open ones)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := store.AlertFilter{Kind: kind}
			if minSev != "" {
				s, err := detectors.ParseSeverity(minSev)
				if err != nil {
					return usage("--min-severity: %v", err)
				}
				f.MinSeverity = int(s)
			}
			switch status {
			case "open":
				f.Status = []store.AlertStatus{store.AlertNew, store.AlertAcknowledged}
			case "all":
			default:
				for _, s := range strings.Split(status, ",") {
					st := store.AlertStatus(strings.TrimSpace(s))
					switch st {
					case store.AlertNew, store.AlertAcknowledged, store.AlertResolved, store.AlertSuppressed:
						f.Status = append(f.Status, st)
					default:
						return usage("--status %q: open, all, or a list of new, acknowledged, resolved, suppressed", s)
					}
				}
			}
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				all, err := every(func(p store.Page) ([]store.Alert, string, error) { return st.ListAlerts(ctx, f, p) })
				if err != nil {
					return err
				}
				if asJSON {
					views := make([]api.Alert, 0, len(all))
					for _, a := range all {
						views = append(views, api.AlertView(a))
					}
					return printJSON(e.stdout, views)
				}
				var rows [][]string
				for _, a := range all {
					rows = append(rows, []string{strconv.FormatInt(a.ID, 10), detectors.Severity(a.Severity).String(), string(a.Status), a.Kind, strconv.Itoa(len(a.Members)), a.LastSeen.Format(time.RFC3339), a.Title})
				}
				return table(e.stdout, "ID\tSEVERITY\tSTATUS\tKIND\tDEVICES\tLAST SEEN\tTITLE", rows)
			})
		},
	}
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	list.Flags().StringVar(&status, "status", "open", "open, all, or comma-separated statuses")
	list.Flags().StringVar(&kind, "kind", "", "only this kind (farm, finding, kvm_shared, silent)")
	list.Flags().StringVar(&minSev, "min-severity", "", "only alerts at or above this severity")

	var actor, note string
	ack := &cobra.Command{
		Use:   "ack ID...",
		Short: "acknowledge alerts",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if actor == "" {
				actor = "cli:" + currentUser()
			}
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				var errs []error
				for _, arg := range args {
					id, err := strconv.ParseInt(arg, 10, 64)
					if err != nil {
						errs = append(errs, usage("alert id %q is not a number", arg))
						continue
					}
					now := time.Now()
					_, err = st.SetAlertStatus(ctx, id, store.AlertAcknowledged, note, time.Time{},
						store.AuditEntry{At: now, Actor: actor, Action: "alert.ack", Target: "alert:" + arg, Detail: note})
					if err != nil {
						errs = append(errs, fmt.Errorf("alert %s: %w", arg, notFound(err, "alert", arg)))
						continue
					}
					fmt.Fprintf(e.stdout, "alert %d acknowledged\n", id)
				}
				return errors.Join(errs...)
			})
		},
	}
	ack.Flags().StringVar(&actor, "as", "", "who acknowledges (default cli:<OS user>), for the audit log")
	ack.Flags().StringVar(&note, "note", "", "why, for the audit log")
	cmd.AddCommand(list, ack)
	return cmd
}

func currentUser() string {
	for _, v := range []string{"SUDO_USER", "USER", "USERNAME"} {
		if u := os.Getenv(v); u != "" {
			return u
		}
	}
	return "unknown"
}

func rosterCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "roster", Short: "owners and their registered homes"}
	var asJSON bool
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "import a roster CSV (owner,display_name,city,country,latitude,longitude,time_zone,devices); all rows or none",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := os.Open(args[0])
			if err != nil {
				return usage("%v", err)
			}
			entries, err := roster.Parse(f)
			f.Close()
			if err != nil {
				return usage("%s: %v", args[0], err)
			}
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				if err := st.ImportRoster(ctx, entries); err != nil {
					return err
				}
				assigned, err := assignOwners(ctx, st, entries)
				if err != nil {
					return err
				}
				if err := st.AddAudit(ctx, store.AuditEntry{At: time.Now(), Actor: "cli", Action: "roster.import", Target: args[0], Detail: fmt.Sprintf("%d owners, %d devices assigned", len(entries), assigned)}); err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, map[string]int{"owners": len(entries), "devices_assigned": assigned})
				}
				fmt.Fprintf(e.stdout, "imported %d owners; %d enrolled devices assigned to their owner\n", len(entries), assigned)
				return nil
			})
		},
	}
	imp.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(imp)
	return cmd
}

// assignOwners sets the owner of enrolled devices listed in the roster.
func assignOwners(ctx context.Context, st store.Store, entries []store.RosterEntry) (int, error) {
	devices, err := st.AllDevices(ctx)
	if err != nil {
		return 0, err
	}
	idx := server.NewOwnerIndex(entries)
	n := 0
	for _, d := range devices {
		owner := idx.Owner(d.ID, d.Hostname)
		if owner == "" || owner == d.Owner {
			continue
		}
		if err := st.SetOwner(ctx, d.ID, owner); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func userCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "console/API users"}
	var (
		role   string
		asJSON bool
	)
	add := &cobra.Command{
		Use:   "add NAME --role viewer|analyst|admin",
		Short: "add a user with a one-time password and an API token (both shown once)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := auth.ParseRole(role)
			if err != nil {
				return usage("--role: %v", err)
			}
			name := strings.TrimSpace(args[0])
			if name == "" || len(name) > 64 || strings.ContainsAny(name, " :/\t\n") {
				return usage("user name %q: 1-64 characters without spaces, ':' or '/'", args[0])
			}
			return e.withStore(cmd, func(ctx context.Context, _ *server.Config, st store.Store) error {
				pw, err := auth.NewPassword()
				if err != nil {
					return err
				}
				hash, err := auth.HashPassword(pw)
				if err != nil {
					return err
				}
				now := time.Now().UTC()
				u := store.User{Name: name, Role: r, PasswordHash: hash, CreatedAt: now, MustChangePassword: true}
				if err := st.CreateUser(ctx, u); err != nil {
					if errors.Is(err, store.ErrConflict) {
						return usage("user %q exists", name)
					}
					return err
				}
				tok, id, th, err := auth.NewSecret(auth.APIPrefix)
				if err != nil {
					return err
				}
				t := store.APIToken{ID: id, User: name, SecretHash: th, CreatedAt: now, Note: "created with the user"}
				if err := st.CreateAPIToken(ctx, t); err != nil {
					return err
				}
				if err := st.AddAudit(ctx, store.AuditEntry{At: now, Actor: "cli", Action: "user.add", Target: "user:" + name, Detail: "role=" + string(r)}); err != nil {
					return err
				}
				if asJSON {
					return printJSON(e.stdout, struct {
						api.NewUser
						APIToken string `json:"api_token"`
					}{api.NewUser{User: api.UserView(u), Password: pw}, tok})
				}
				fmt.Fprintf(e.stdout, "user %s (%s) added\n  one-time password  %s   (change it at first login)\n  API token          %s\nBoth are shown once.\n", name, r, pw, tok)
				return nil
			})
		},
	}
	add.Flags().StringVar(&role, "role", "viewer", "viewer, analyst or admin")
	add.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(add)
	return cmd
}
