package cli

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/server/auth"
)

// dbMode says how an admin command uses serve's database (see dbCommand).
type dbMode uint8

const (
	// dbWrite opens the database read-write, migrated to this release's schema.
	dbWrite dbMode = 0
	// dbRead opens it read-only: safe while chartroom serve runs.
	dbRead dbMode = 1 << iota
	// dbOutput: the command prints its result as -o text|json says.
	dbOutput
)

// openDB opens the database of the data directory an admin command's flags name.
type openDB func() (*meta.DB, error)

// dbRun is what an admin command on serve's database does: it checks its arguments and
// flags, then calls open for the database (which dbCommand closes after it returns), and
// prints its result as output (text or json) says.
type dbRun func(cmd *cobra.Command, args []string, open openDB, output string) error

// dbCommand makes c (its Use, help and Args set) an admin command that works directly on
// the database of serve's data directory (or serve's PostgreSQL database), also while serve
// runs. It registers --data-dir and --config, then the command's own flags (flags; nil for
// none), then -o/--output when mode has dbOutput: --help lists them in that order. c's RunE
// refuses an -o other than text or json, then runs run, whose open opens the database as
// dataDirDB does (read-only with dbRead; otherwise migrated to this release's schema).
func dbCommand(c *cobra.Command, mode dbMode, run dbRun, flags func(*pflag.FlagSet)) {
	dd := &dataDirFlags{}
	var output string
	c.RunE = func(cmd *cobra.Command, args []string) error {
		if mode&dbOutput != 0 {
			if err := checkOutputFormat(output); err != nil {
				return err
			}
		}
		var db *meta.DB
		defer func() {
			if db != nil {
				db.Close()
			}
		}()
		open := func() (*meta.DB, error) {
			if db != nil {
				return db, nil
			}
			var err error
			db, err = dataDirDB(cmd, dd, mode&dbRead != 0)
			return db, err
		}
		return run(cmd, args, open, output)
	}
	dd.register(c)
	if flags != nil {
		flags(c.Flags())
	}
	if mode&dbOutput != 0 {
		addOutputFlag(c, &output)
	}
}

// cliManager changes users, tokens, roles and keys in db as the OS user running the command.
func cliManager(db *meta.DB) *auth.Manager {
	return &auth.Manager{DB: db, Actor: "cli:" + osUser(), Address: "local"}
}

// cliAudit is the audit record of an admin command run on the data directory.
func cliAudit(action, namespace, detail string) *meta.AuditRecord {
	return &meta.AuditRecord{Actor: "cli:" + osUser(), Address: "local", Action: action, Repository: namespace, Outcome: "ok", Detail: detail}
}
