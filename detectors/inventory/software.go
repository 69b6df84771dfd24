package inventory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"howett.net/plist"

	"github.com/farmwatch/farmwatch/detectors"
)

// Software is one installed product.
type Software struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	Publisher string `json:"publisher,omitempty"`
	// ID is a bundle identifier, package name or uninstall key name when
	// there is one.
	ID       string `json:"id,omitempty"`
	Location string `json:"location,omitempty"`
	// Source is "uninstall_key", "app_bundle", "dpkg" or "rpm".
	Source string `json:"source"`
}

// DpkgStatusPath is the dpkg database, relative to the filesystem root.
const DpkgStatusPath = "var/lib/dpkg/status"

// RPMDBPath is the directory whose presence says rpm is in use.
const RPMDBPath = "var/lib/rpm"

// RPMQueryArgs are the arguments of the `rpm` run that ParseRPMQuery
// parses; callers run exactly these so recorded outputs replay.
var RPMQueryArgs = []string{"-qa", "--qf", `%{NAME}\t%{VERSION}-%{RELEASE}\t%{VENDOR}\n`}

// ParseDpkgStatus returns the installed packages of a dpkg status file.
// Packages removed with their configuration kept ("config-files") and
// half-installed ones are left out.
func ParseDpkgStatus(data []byte) []Software {
	var out []Software
	for _, para := range bytes.Split(data, []byte("\n\n")) {
		var pkg, status, version, maint string
		for _, line := range strings.Split(string(para), "\n") {
			k, v, ok := strings.Cut(line, ": ")
			if !ok || strings.HasPrefix(line, " ") {
				continue
			}
			switch k {
			case "Package":
				pkg = v
			case "Status":
				status = v
			case "Version":
				version = v
			case "Maintainer":
				maint = v
			}
		}
		if pkg != "" && strings.HasSuffix(status, " installed") && !strings.Contains(status, "config-files") {
			out = append(out, Software{Name: pkg, ID: pkg, Version: version, Publisher: maint, Source: "dpkg"})
		}
	}
	return out
}

// ParseRPMQuery parses the output of `rpm` run with RPMQueryArgs.
func ParseRPMQuery(out []byte) []Software {
	var sw []Software
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 2 || f[0] == "" {
			continue
		}
		s := Software{Name: f[0], ID: f[0], Version: f[1], Source: "rpm"}
		if len(f) > 2 && f[2] != "(none)" {
			s.Publisher = f[2]
		}
		sw = append(sw, s)
	}
	return sw
}

// LinuxPackages reads the dpkg database and, where rpm is in use, the
// output of `rpm -qa`. A database that does not exist is no error; one
// that cannot be read is reported as a SourceError ("dpkg", "rpm") and the
// other is still read.
func LinuxPackages(ctx context.Context, fsys fs.FS, run detectors.Runner) ([]Software, []detectors.SourceError) {
	var sw []Software
	var errs []detectors.SourceError
	if data, err := fs.ReadFile(fsys, DpkgStatusPath); err == nil {
		sw = append(sw, ParseDpkgStatus(data)...)
	} else if !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, detectors.SourceError{Source: "dpkg", Error: err.Error()})
	}
	if _, err := fs.Stat(fsys, RPMDBPath); err == nil {
		out, err := run.Run(ctx, "rpm", RPMQueryArgs...)
		if err != nil {
			errs = append(errs, detectors.SourceError{Source: "rpm", Error: err.Error()})
		}
		sw = append(sw, ParseRPMQuery(out)...)
	}
	return sw, errs
}

// ParseAppInfoPlist decodes an app bundle's Info.plist (XML, binary or
// OpenStep).
func ParseAppInfoPlist(data []byte) (Software, error) {
	var info struct {
		Name    string `plist:"CFBundleName"`
		Display string `plist:"CFBundleDisplayName"`
		ID      string `plist:"CFBundleIdentifier"`
		Version string `plist:"CFBundleShortVersionString"`
	}
	if _, err := plist.Unmarshal(data, &info); err != nil {
		return Software{}, fmt.Errorf("parse Info.plist: %w", err)
	}
	name := info.Display
	if name == "" {
		name = info.Name
	}
	return Software{Name: name, ID: info.ID, Version: info.Version, Source: "app_bundle"}, nil
}

// AppBundlePatterns are where AppBundles looks for applications.
var AppBundlePatterns = []string{"Applications/*.app", "Applications/*/*.app", "Users/*/Applications/*.app"}

// AppBundles lists the macOS applications under AppBundlePatterns, named
// by their Info.plist (or the bundle's folder name when the plist has
// none). A bundle without Info.plist is skipped; one whose Info.plist
// does not parse is reported as a SourceError "app <path>".
func AppBundles(fsys fs.FS) ([]Software, []detectors.SourceError) {
	var sw []Software
	var errs []detectors.SourceError
	for _, pattern := range AppBundlePatterns {
		apps, _ := fs.Glob(fsys, pattern) // the patterns are valid
		for _, app := range apps {
			data, err := fs.ReadFile(fsys, app+"/Contents/Info.plist")
			if err != nil {
				continue // a bundle without Info.plist is not an app we can name
			}
			s, err := ParseAppInfoPlist(data)
			if err != nil {
				errs = append(errs, detectors.SourceError{Source: "app " + app, Error: err.Error()})
				continue
			}
			s.Location = "/" + app
			if s.Name == "" {
				s.Name = strings.TrimSuffix(path.Base(app), ".app")
			}
			sw = append(sw, s)
		}
	}
	return sw, errs
}
