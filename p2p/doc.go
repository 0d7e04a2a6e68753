// Package p2p is murmur's network: the libp2p host and the private Kademlia
// DHT that places the global index, term by term, on the nodes whose peer
// IDs are closest to each key.
//
// A post is stored under keys (Keys): one per distinct term of its text, one
// for its author and one for its author label. The R nodes closest to a key
// in the DHT keyspace are its owners (Service.Owners); a writer sends the
// post to the owners of each of its keys over the store protocol and counts
// their acknowledgements (Service.Place). Every node keeps a digest of the
// posts it holds per key (Holdings) and, whenever the owners of a key change,
// compares digests with them over the sync protocol and hands over what they
// lack (repair). Tombstones travel the same way.
package p2p
