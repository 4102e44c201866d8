// Package gitsync is the GitOps half of Capitain: it brings a project's git repository to the
// server and decides when a sync may happen.
//
//   - [Cache] fetches a project's repository with go-git (git://, http(s):// with a token or basic
//     auth, ssh:// with a deploy key checked against known_hosts) into a per-project bare cache and
//     writes a read-only checkout per commit: concurrent jobs on different commits never share files.
//     [Cache.Resolve] asks the remote which commit a ref names without fetching anything.
//   - [ParsePush] verifies and parses push webhooks from GitHub, GitLab and Gitea; [StatusCode] maps
//     its errors to HTTP statuses (401 bad signature, 400 malformed body, 413 too large).
//   - [MaySync] answers "may this project sync at time T?" for Argo CD-style sync windows.
//   - [Scheduler] runs cron schedules (drift checks, syncs) on a [ScheduleStore] the server
//     implements, at most once per due time across restarts and replicas.
//   - [Poller] polls every project's ref at its own interval, with jitter, and reports new commits.
//
// Nothing here touches the server's database or queue: the server passes what it stores
// ([Source], [Window], [Schedule], [PollTarget]) and receives commits, checkouts and decisions.
package gitsync

// Time zone names in windows and schedules must resolve in a static binary on an image without
// /usr/share/zoneinfo (the Docker image is FROM scratch).
import _ "time/tzdata"
