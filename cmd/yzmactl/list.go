package main

import (
	"fmt"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/yzma/yzma/node/api"
	"github.com/yzma/yzma/node/client"
)

func newListCmd(g *globals) *cobra.Command {
	var prefix, after string
	var limit int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List keys in byte order: KEY, SIZE, TYPE and SIBLINGS, tab-separated",
		Long: "List keys in byte order, one per line: KEY, SIZE, TYPE and SIBLINGS, tab-separated.\n" +
			"Keys that are not printable UTF-8 are Go-quoted. When more keys follow, the --after\n" +
			"value for the next page is printed to stderr.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			page, err := c.List(cmd.Context(), prefix, after, limit)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), wireList(page))
			}
			for _, e := range page.Keys {
				if _, err := fmt.Fprintf(cmd.OutOrStdout(), "%s\t%d\t%s\t%d\n", printable(e.Key), e.Size, e.Type, e.Siblings); err != nil {
					return err
				}
			}
			if page.Next != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "more keys: --after %s\n", printable(page.Next))
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&prefix, "prefix", "", "only keys starting with this")
	f.StringVar(&after, "after", "", "only keys sorting after this")
	f.IntVar(&limit, "limit", 100, "at most this many keys (1-1000)")
	f.BoolVar(&asJSON, "json", false, "print the page as JSON")
	return cmd
}

// wireList renders a page as the API does, with exact bytes for keys that
// are not UTF-8.
func wireList(p client.Page) api.KeyList {
	out := api.KeyList{Keys: make([]api.KeyEntry, len(p.Keys)), Next: p.Next, NextBase64: nonUTF8(p.Next)}
	for i, e := range p.Keys {
		out.Keys[i] = api.KeyEntry{Key: e.Key, KeyBase64: nonUTF8(e.Key), Siblings: e.Siblings, Type: e.Type, Size: e.Size}
	}
	return out
}

func nonUTF8(s string) []byte {
	if utf8.ValidString(s) {
		return nil
	}
	return []byte(s)
}

// printable returns s unchanged when it is printable UTF-8 without tabs or
// newlines, else Go-quoted.
func printable(s string) string {
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
