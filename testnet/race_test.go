//go:build race

package testnet_test

// raceEnabled shrinks the churn test under the race detector, which slows
// every libp2p and bleve call five- to tenfold.
const raceEnabled = true
