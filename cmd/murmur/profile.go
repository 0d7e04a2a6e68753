package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/murmur-p2p/murmur/api"
	"github.com/murmur-p2p/murmur/post"
)

func newProfileCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "profile",
		Short: "Set the node's profile (a display name and a bio) or show an author's",
		Long: `An author's profile is a display name and a short bio, signed by its key
and kept by the owners of its profile key. Pages and search results show the
name beside the peer ID: a name is chosen by its author and is not unique.`,
	}
	set := &cobra.Command{
		Use:   "set --name NAME [--bio BIO]",
		Short: "Sign the node's profile and send it to its owners",
		Long: fmt.Sprintf(`Sign the node's profile with its key and send it to the owners of its
profile key; it replaces the node's earlier profile. The name is 1 to %d
characters on one line and must not look like a peer ID; the bio at most %d.`, post.MaxNameChars, post.MaxBioChars),
		Example: "  murmur profile set --name 'Ada of the marsh' --bio 'Counts plovers.'",
		Args:    noArgs,
	}
	sfs := set.Flags()
	setAddr := apiFlags(sfs)
	name := sfs.String("name", "", "the display name (required)")
	bio := sfs.String("bio", "", "a short bio")
	set.RunE = func(cmd *cobra.Command, _ []string) error {
		if *name == "" {
			return usageErrorf("give the display name with --name")
		}
		c, err := client(setAddr)
		if err != nil {
			return err
		}
		p, err := c.SetProfile(cmd.Context(), api.ProfileRequest{Name: *name, Bio: *bio})
		if err != nil {
			return err
		}
		return printJSON(p)
	}
	get := &cobra.Command{
		Use:     "get [PEER-ID]",
		Short:   "Show an author's profile (the node's own without an ID)",
		Example: "  murmur profile get\n  murmur profile get 12D3KooWExample...",
		Args:    cobra.MaximumNArgs(1),
	}
	getAddr := apiFlags(get.Flags())
	get.RunE = func(cmd *cobra.Command, args []string) error {
		c, err := client(getAddr)
		if err != nil {
			return err
		}
		author := ""
		if len(args) == 1 {
			author = args[0]
		} else {
			st, err := c.Status(cmd.Context())
			if err != nil {
				return err
			}
			author = st.PeerID
		}
		p, err := c.Profile(cmd.Context(), author)
		if err != nil {
			return err
		}
		return printJSON(p)
	}
	cmd.AddCommand(set, get)
	return cmd
}
