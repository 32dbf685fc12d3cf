package main

import (
	"github.com/spf13/cobra"
)

func newRejoinCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "rejoin",
		Short: "Make a node that left its cluster a member again",
		Long: "Make a node that left its cluster (POST /cluster/leave) a member again: it forgets that it\n" +
			"left, joins through its configured seeds and catches up. rejoin returns once the node is\n" +
			"ready (raise --timeout when it has much to catch up with); on a member it changes nothing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			return c.Rejoin(cmd.Context())
		},
	}
}
