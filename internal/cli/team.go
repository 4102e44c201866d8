package cli

import (
	"bufio"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
)

// The `chaos team` commands, one file each (team_init.go, team_clone.go, ...); the logic is in
// internal/team.

func (a *app) teamCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "team",
		Short: "Shared team repositories: secrets and rambles per company and team",
		Long: `A team repository (git) holds, per company and team, the team's sops-encrypted secrets
(COMPANY/TEAM/secrets/{dev,prod}), its people's rambles (COMPANY/TEAM/ramblings/PERSON) and the sops
configuration saying who can read them (COMPANY/TEAM/sops-config.yml), with .chaos.yml at the root
naming the company, its teams and people. Activating a repository links each team into
~/.local/share/chaos/teams/COMPANY/TEAM ($CHAOS_TEAMS_DIR), where -t COMPANY.TEAM[.GROUP] on
chaos secrets, chaos apply -s and chaos ramble finds it. See docs/secrets.md.`,
	}
	cmd.AddCommand(a.teamInitCmd(), a.teamCloneCmd(), a.teamActivateCmd(), a.teamDeactivateCmd(),
		a.teamListCmd(), a.teamPruneCmd())
	return cmd
}

// confirm asks a yes/no question on the terminal; without one it answers no.
func (a *app) confirm(question string) bool {
	if !a.interactive() {
		return false
	}
	fmt.Fprintf(a.stdout, "%s [y/N] ", question)
	line, _ := bufio.NewReader(a.stdin).ReadString('\n')
	ans := strings.ToLower(strings.TrimSpace(line))
	return ans == "y" || ans == "yes"
}
