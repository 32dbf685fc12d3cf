package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/yzma/yzma/node/client"
)

// getOutput is what get --json prints.
type getOutput struct {
	Key      string
	Data     []byte
	Type     string
	Context  string
	Siblings []client.Sibling `json:",omitempty"`
}

func newGetCmd(g *globals) *cobra.Command {
	var asJSON, siblings bool
	cmd := &cobra.Command{
		Use:   "get KEY",
		Short: "Print a key's value (raw bytes; --json for type and context)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			key, out := args[0], cmd.OutOrStdout()
			if !asJSON && !siblings {
				_, err := c.GetRaw(cmd.Context(), key, out)
				return err
			}
			res := getOutput{Key: key}
			if siblings {
				s, err := c.GetSiblings(cmd.Context(), key)
				if err != nil {
					return err
				}
				res.Data, res.Type, res.Context, res.Siblings = s.Data, s.Type, s.Context, s.Versions
			} else {
				v, err := c.Get(cmd.Context(), key)
				if err != nil {
					return err
				}
				res.Data, res.Type, res.Context = v.Data, v.Type, v.Context
			}
			return printJSON(out, res)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the value (base64), its type and context token as JSON")
	cmd.Flags().BoolVar(&siblings, "siblings", false, "print every live version as JSON (implies --json)")
	return cmd
}

func newPutCmd(g *globals) *cobra.Command {
	var file, contentType, token string
	var ttl time.Duration
	cmd := &cobra.Command{
		Use:   "put KEY [VALUE]",
		Short: "Write a key from VALUE, --file or stdin; prints the new version's context token",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			value, err := readValue(cmd, args[1:], file)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			opts := contextOpts(token)
			if ttl != 0 {
				opts = append(opts, client.WithTTL(ttl))
			}
			tok, err := c.Put(cmd.Context(), args[0], value, contentType, opts...)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), tok)
			return err
		},
	}
	cmd.Flags().StringVar(&file, "file", "", "read the value from `path`")
	cmd.Flags().StringVar(&contentType, "type", "", "content type to store with the value")
	cmd.Flags().StringVar(&token, "context", "", "supersede only what this context `token` names")
	cmd.Flags().DurationVar(&ttl, "ttl", 0, "expire the value this long after the write, e.g. 30s (default: never)")
	return cmd
}

// readValue takes the value from the argument, the file or stdin: exactly
// one of them.
func readValue(cmd *cobra.Command, args []string, file string) ([]byte, error) {
	switch {
	case len(args) == 1 && file != "":
		return nil, errors.New("give the value as an argument or with --file, not both")
	case len(args) == 1:
		return []byte(args[0]), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read value: %w", err)
		}
		return b, nil
	}
	b, err := io.ReadAll(cmd.InOrStdin())
	if err != nil {
		return nil, fmt.Errorf("read value from stdin: %w", err)
	}
	return b, nil
}

func newDelCmd(g *globals) *cobra.Command {
	var token string
	cmd := &cobra.Command{
		Use:   "del KEY",
		Short: "Delete a key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return c.Delete(cmd.Context(), args[0], contextOpts(token)...)
		},
	}
	cmd.Flags().StringVar(&token, "context", "", "delete only what this context `token` names")
	return cmd
}

func contextOpts(token string) []client.WriteOption {
	if token == "" {
		return nil
	}
	return []client.WriteOption{client.WithContextToken(token)}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
