package cluster

import (
	"bytes"
	"slices"
	"time"
)

// keyringInterval is how often the gossip keys' source is looked at.
const keyringInterval = 2 * time.Second

// syncKeyring makes memberlist's keyring what the gossip keys' source says:
// new keys installed, the first one made primary, keys no longer listed
// removed. Installing before using and using before removing is what keeps
// members that have and have not seen a change talking to each other.
func (c *Cluster) syncKeyring() {
	want := c.cfg.GossipKeys.Get()
	have := c.keyring.GetKeys()
	if len(want) == 0 || slices.EqualFunc(want, have, bytes.Equal) {
		return
	}
	for _, k := range want {
		if !slices.ContainsFunc(have, func(h []byte) bool { return bytes.Equal(h, k) }) {
			if err := c.keyring.AddKey(k); err != nil {
				c.log.Error("installing a gossip key failed", "error", err)
				return
			}
		}
	}
	if err := c.keyring.UseKey(want[0]); err != nil {
		c.log.Error("switching the primary gossip key failed", "error", err)
		return
	}
	for _, h := range have {
		if !slices.ContainsFunc(want, func(k []byte) bool { return bytes.Equal(h, k) }) {
			if err := c.keyring.RemoveKey(h); err != nil {
				c.log.Error("removing a gossip key failed", "error", err)
			}
		}
	}
	c.log.Info("gossip keys changed", "keys", len(want))
}
