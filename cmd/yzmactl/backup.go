package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/yzma/yzma/node/client"
)

// report is what backup and restore write to --report, as one line of
// JSON: the operator reads it from a Job's termination message.
type report struct {
	File   string    `json:"file,omitempty"`
	Size   int64     `json:"size"`
	SHA256 string    `json:"sha256"`
	Keys   int       `json:"keys"`
	Node   string    `json:"node"`           // backup: the node it was read from; restore: the restored node (IDs as members list them)
	From   string    `json:"from,omitempty"` // restore: the node that wrote the backup
	Time   time.Time `json:"time"`
}

func writeReport(path string, r report) error {
	if path == "" {
		return nil
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

// unlimited drops the request timeout unless --timeout was given: a
// backup or a restore takes as long as its data does.
func unlimited(cmd *cobra.Command, g *globals) {
	if !cmd.Flags().Changed("timeout") {
		g.timeout = 0
	}
}

func newBackupCmd(g *globals) *cobra.Command {
	var out, reportPath, keepGlob string
	var keep int
	cmd := &cobra.Command{
		Use:   "backup [--out FILE]",
		Short: "Save a point-in-time backup of the node's data",
		Long: "Save a backup of the node's data (GET /backup) to --out, or to stdout: the key states at one\n" +
			"instant, with their causal metadata, ending with their SHA-256. On a cluster the node first\n" +
			"gathers what every live member holds, so the backup has every write acknowledged before it\n" +
			"began. The file is written under a temporary name and renamed once whole and checked.\n" +
			"A summary goes to stderr. --keep N with --keep-glob PATTERN then deletes all but the N newest\n" +
			"files matching PATTERN in --out's directory.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if keep > 0 && (keepGlob == "" || out == "" || out == "-") {
				return errors.New("--keep needs --keep-glob and --out")
			}
			if _, err := filepath.Match(keepGlob, ""); err != nil {
				return fmt.Errorf("--keep-glob: %w", err)
			}
			unlimited(cmd, g)
			c, err := g.client()
			if err != nil {
				return err
			}
			var info client.BackupInfo
			if out == "" || out == "-" {
				info, err = c.Backup(cmd.Context(), cmd.OutOrStdout())
			} else {
				info, err = backupToFile(cmd, c, out)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "backup of node %s: %d keys, %d bytes, sha256 %s\n", info.Node, info.Keys, info.Size, info.SHA256)
			if keep > 0 {
				if err := prune(filepath.Dir(out), keepGlob, keep); err != nil {
					return err
				}
			}
			return writeReport(reportPath, report{File: outName(out), Size: info.Size, SHA256: info.SHA256, Keys: info.Keys,
				Node: info.Node, Time: time.Now().UTC()})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&out, "out", "o", "", "`file` to write the backup to (default: stdout)")
	f.StringVar(&reportPath, "report", "", "`file` to write a JSON report to (e.g. /dev/termination-log)")
	f.IntVar(&keep, "keep", 0, "after the backup, keep only the `N` newest files matching --keep-glob")
	f.StringVar(&keepGlob, "keep-glob", "", "file name `pattern` --keep applies to, in --out's directory")
	return cmd
}

func outName(out string) string {
	if out == "-" {
		return ""
	}
	return out
}

// backupToFile writes the backup under a temporary name beside out, syncs
// it, and renames it to out once checked.
func backupToFile(cmd *cobra.Command, c *client.Client, out string) (client.BackupInfo, error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), "."+filepath.Base(out)+".partial-*")
	if err != nil {
		return client.BackupInfo{}, err
	}
	defer os.Remove(tmp.Name()) // after the rename, there is nothing there
	defer tmp.Close()
	info, err := c.Backup(cmd.Context(), tmp)
	if err != nil {
		return info, err
	}
	if err := tmp.Sync(); err != nil {
		return info, err
	}
	if err := tmp.Close(); err != nil {
		return info, err
	}
	return info, os.Rename(tmp.Name(), out)
}

// prune deletes all but the keep newest files of dir matching glob.
func prune(dir, glob string, keep int) error {
	matches, err := filepath.Glob(filepath.Join(dir, glob))
	if err != nil {
		return err
	}
	type file struct {
		path string
		mod  time.Time
	}
	var files []file
	for _, m := range matches {
		fi, err := os.Stat(m)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		files = append(files, file{m, fi.ModTime()})
	}
	slices.SortFunc(files, func(a, b file) int { return b.mod.Compare(a.mod) })
	for _, f := range files[min(keep, len(files)):] {
		if err := os.Remove(f.path); err != nil {
			return fmt.Errorf("prune old backups: %w", err)
		}
	}
	return nil
}

func newRestoreCmd(g *globals) *cobra.Command {
	var in, reportPath, sum string
	cmd := &cobra.Command{
		Use:   "restore [--in FILE]",
		Short: "Restore a backup into an empty node",
		Long: "Restore a backup (yzmactl backup) from --in, or from stdin, into a node that holds no data yet\n" +
			"(POST /restore). The backup is checked first (its checksum, and --sha256 when given). The\n" +
			"restored node keeps its own new identity and merges the backup's data; on a cluster the\n" +
			"other members then take it from that node.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			unlimited(cmd, g)
			c, err := g.client()
			if err != nil {
				return err
			}
			f, err := openBackup(cmd, in)
			if err != nil {
				return err
			}
			defer f.Close()
			info, err := client.CheckBackup(f)
			if err != nil {
				return err
			}
			if sum != "" && sum != info.SHA256 {
				return fmt.Errorf("%w: sha256 %s, want %s", client.ErrBadBackup, info.SHA256, sum)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			res, err := c.Restore(cmd.Context(), f, info.Size)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "restored %d keys (%d bytes, sha256 %s) from node %s into node %s (new origin %s)\n",
				res.Keys, res.Size, res.SHA256, res.From, res.Node, res.Origin)
			return writeReport(reportPath, report{File: outName(in), Size: res.Size, SHA256: res.SHA256, Keys: res.Keys,
				Node: res.Node, From: res.From, Time: time.Now().UTC()})
		},
	}
	f := cmd.Flags()
	f.StringVarP(&in, "in", "i", "", "backup `file` (default: stdin)")
	f.StringVar(&sum, "sha256", "", "the backup's expected SHA-256 (`hex`), as backup reported it")
	f.StringVar(&reportPath, "report", "", "`file` to write a JSON report to (e.g. /dev/termination-log)")
	return cmd
}

// openBackup opens the backup file, or spools stdin to an unlinked
// temporary file: it is read twice, to check it and to send it.
func openBackup(cmd *cobra.Command, in string) (*os.File, error) {
	if in != "" && in != "-" {
		return os.Open(in)
	}
	f, err := os.CreateTemp("", "yzma-restore-*")
	if err != nil {
		return nil, err
	}
	_ = os.Remove(f.Name())
	if _, err := io.Copy(f, cmd.InOrStdin()); err != nil {
		f.Close()
		return nil, fmt.Errorf("read backup: %w", err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}
