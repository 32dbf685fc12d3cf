//go:build race

package cluster

// raceEnabled: the race detector slows everything down several times; the
// tests that move 100,000 keys move a tenth of them under it (races show
// with few keys as well as many).
const raceEnabled = true
