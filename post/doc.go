// Package post defines murmur's signed records: the Post a user writes and the
// Tombstone that deletes it.
//
// Both are immutable and signed with the author's ed25519 key, the same key that
// is the author's libp2p identity, so the author field is a libp2p peer ID from
// which anyone can extract the public key. A record's ID is the SHA-256 of its
// canonical encoding; Verify checks limits, ID and signature, and every node runs
// it before it stores or indexes anything.
package post
