package server

// The web UI's migrations, appended after store.go's (a file of their own so that branches adding
// migrations merge without conflict; init runs after the package's variables are initialized).
func init() {
	migrations = append(migrations,
		// A host's last runs and the jobs history filtered by host read the job hosts by host.
		`CREATE INDEX capitain_job_hosts_host ON capitain_job_hosts (host, job_id)`,
	)
}
