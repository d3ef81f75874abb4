package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/chartroom/chartroom/internal/meta"
	"github.com/chartroom/chartroom/internal/registry"
	"github.com/chartroom/chartroom/internal/termsafe"
	"github.com/chartroom/chartroom/internal/webhook"
)

func newWebhookCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "webhook",
		Short: "Add, list and delete webhooks, and see their deliveries, in a data directory",
		Long: `Manage the webhooks of the server that uses a data directory, working directly on its
database (the same --data-dir and --config as chartroom serve), also while chartroom serve
runs: the server reads the webhooks at each change and sends the deliveries.

A webhook is a URL told about the events of one namespace: chart.published (a chart
version published, over either protocol), chart.deleted (a chart version deleted) and
artifact.pushed (a push that stores a new manifest or points a tag at one, charts
included). Each event is queued in the database with the change it reports, then POSTed as
JSON, signed (X-Chartroom-Signature: sha256=HMAC of the timestamp header, ".", and the
body, keyed with the webhook's secret), retried with backoff until the receiver answers
2xx, in order per webhook. See the README's Webhooks section for the payload and how to
verify the signature.`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return usageError{fmt.Errorf("webhook needs a subcommand: add, list, delete, deliveries or redeliver (see %s --help)", c.CommandPath())}
		},
	}
	c.AddCommand(newWebhookAddCmd(), newWebhookListCmd(), newWebhookDeleteCmd(), newWebhookDeliveriesCmd(), newWebhookRedeliverCmd())
	return c
}

// webhookResult is a webhook as -o json prints it; the secret only when it was just added.
type webhookResult struct {
	ID        int64    `json:"id"`
	Namespace string   `json:"namespace"`
	URL       string   `json:"url"`
	Events    []string `json:"events"`
	// AllowLocal: deliveries may go to loopback and link-local addresses.
	AllowLocal bool      `json:"allowLocal"`
	Created    time.Time `json:"created"`
	Secret     string    `json:"secret,omitempty"`
	Pending    int       `json:"pending"`
	Failed     int       `json:"failed"`
}

func webhookResultOf(w *meta.Webhook) webhookResult {
	return webhookResult{ID: w.ID, Namespace: w.Namespace, URL: w.URL, Events: w.Events, AllowLocal: w.AllowLocal, Created: w.Created, Pending: w.Pending, Failed: w.Failed}
}

func newWebhookAddCmd() *cobra.Command {
	var (
		events             []string
		secret, secretFile string
		allowLocal         bool
	)
	c := &cobra.Command{
		Use:   "add NAMESPACE URL",
		Short: "Add a webhook: URL is told about the events of NAMESPACE",
		Long: `Add a webhook: from now on, each event of NAMESPACE ("/" for the root namespace; only that
namespace, not the ones below it) of the types in --events is POSTed to URL (http or https).

The secret signs every delivery. Without --secret or --secret-file one is generated and
printed once: store it in the receiver's configuration, it is not shown again.

Deliveries are not sent to loopback or link-local addresses (127.0.0.0/8, ::1, 169.254.0.0/16,
fe80::/10, such as a cloud's metadata service), whether the URL names one or its host name
resolves to one, unless the webhook is added with --allow-local: a receiver on the server's
own machine is then a deliberate choice. Private networks (10.0.0.0/8 and the like) are
allowed.` + exitCodesHelp,
		Example: `  chartroom webhook add team/charts https://ci.example.com/hooks/chartroom --data-dir /var/lib/chartroom
  chartroom webhook add team/charts https://deploy.example.com/chartroom --events chart.published,chart.deleted \
    --secret-file /etc/chartroom/deploy-hook.secret --config /etc/chartroom.yaml`,
		Args: func(c *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usageError{fmt.Errorf("webhook add takes two arguments, NAMESPACE and URL; got %d (see %s --help)", len(args), c.CommandPath())}
			}
			return nil
		},
	}
	dbCommand(c, dbWrite|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		ns, err := webhookNamespaceArg(args[0])
		if err != nil {
			return err
		}
		if err := webhook.CheckURL(args[1]); err != nil {
			return usageError{err}
		}
		if err := webhook.CheckLocal(args[1], allowLocal); err != nil {
			return usageError{err}
		}
		types, err := webhook.ParseEvents(events)
		if err != nil {
			return usageError{fmt.Errorf("--events: %w", err)}
		}
		generated := false
		switch {
		case cmd.Flags().Changed("secret") && cmd.Flags().Changed("secret-file"):
			return usageError{errors.New("give --secret or --secret-file, not both")}
		case cmd.Flags().Changed("secret-file"):
			if secret, err = readSecretFile(secretFile); err != nil {
				return err
			}
		case !cmd.Flags().Changed("secret"):
			secret, generated = webhook.NewSecret(), true
		}
		if err := webhook.CheckSecret(secret); err != nil {
			return usageError{err}
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		w, err := db.AddWebhook(ctx, meta.Webhook{Namespace: ns, URL: args[1], Events: types, Secret: secret, AllowLocal: allowLocal},
			cliAudit("webhook.add", ns, strings.Join(types, " ")))
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			res := webhookResultOf(w)
			if generated {
				res.Secret = secret
			}
			return writeJSONResult(out, res)
		}
		fmt.Fprintf(out, "webhook %d: %s events of %s go to %s\n", w.ID, strings.Join(w.Events, ", "), namespaceLabelOf(ns), w.URL)
		if generated {
			fmt.Fprintf(out, "secret (shown this once; the receiver checks %s with it):\n%s\n", webhook.HeaderSignature, secret)
		}
		return nil
	}, func(f *pflag.FlagSet) {
		f.StringSliceVar(&events, "events", nil, "event types to send, comma-separated or repeated: "+strings.Join(meta.EventTypes, ", ")+" (default all)")
		f.StringVar(&secret, "secret", "", fmt.Sprintf("the signing secret (at least %d characters); default: generated and printed once", webhook.MinSecretLength))
		f.StringVar(&secretFile, "secret-file", "", "read the signing secret from this file (- for standard input), keeping it out of the shell's history")
		f.BoolVar(&allowLocal, "allow-local", false, "allow deliveries to loopback and link-local addresses (a receiver on this machine); refused by default")
	})
	c.Flags().SortFlags = false
	return c
}

func newWebhookListCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "list",
		Short: "List the webhooks, with their pending and failed deliveries",
		Long: `List the webhooks of the data directory's server (never their secrets), each with the
number of its deliveries still pending and of those that failed for good. Read-only: safe
while chartroom serve runs.` + exitCodesHelp,
		Example: `  chartroom webhook list --data-dir /var/lib/chartroom
  chartroom webhook list --config /etc/chartroom.yaml -o json`,
		Args: cobra.NoArgs,
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, _ []string, open openDB, output string) error {
		db, err := open()
		if err != nil {
			return err
		}
		hooks, err := db.Webhooks(cmd.Context())
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			res := make([]webhookResult, 0, len(hooks))
			for i := range hooks {
				res = append(res, webhookResultOf(&hooks[i]))
			}
			return writeJSONResult(out, res)
		}
		if len(hooks) == 0 {
			fmt.Fprintln(out, "no webhooks (chartroom webhook add NAMESPACE URL adds one)")
			return nil
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tNAMESPACE\tEVENTS\tPENDING\tFAILED\tCREATED\tURL")
		for _, w := range hooks {
			u := w.URL
			if w.AllowLocal {
				u += " (local allowed)"
			}
			fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%d\t%s\t%s\n", w.ID, namespaceArgOf(w.Namespace), strings.Join(w.Events, ","),
				w.Pending, w.Failed, w.Created.Format(time.RFC3339), termsafe.Text(u))
		}
		return tw.Flush()
	}, nil)
	return c
}

func newWebhookDeleteCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a webhook and its deliveries",
		Long: `Delete webhook ID (see chartroom webhook list) with its deliveries: those still pending are
never sent. A delivery being sent at that moment finishes.` + exitCodesHelp,
		Example: `  chartroom webhook delete 3 --data-dir /var/lib/chartroom`,
		Args:    oneArg("the webhook's ID (chartroom webhook list)"),
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, args []string, open openDB, _ string) error {
		id, err := idArg(args[0], "webhook", "chartroom webhook list")
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		pending, err := db.DeleteWebhook(ctx, id, cliAudit("webhook.delete", "", fmt.Sprintf("webhook %d", id)))
		if errors.Is(err, meta.ErrNotFound) {
			return fmt.Errorf("there is no webhook %d: chartroom webhook list shows the webhooks", id)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "deleted webhook %d (%d pending deliveries dropped)\n", id, pending)
		return nil
	}, nil)
	return c
}

// deliveryResult is a delivery as -o json prints it.
type deliveryResult struct {
	ID          int64      `json:"id"`
	Webhook     int64      `json:"webhook"`
	Event       string     `json:"event"`
	EventID     string     `json:"eventId"`
	Repository  string     `json:"repository"`
	Version     string     `json:"version,omitempty"`
	Digest      string     `json:"digest"`
	Queued      time.Time  `json:"queued"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LastAttempt *time.Time `json:"lastAttempt,omitempty"`
	LastStatus  int        `json:"lastStatus,omitempty"`
	LastError   string     `json:"lastError,omitempty"`
	NextAttempt *time.Time `json:"nextAttempt,omitempty"`
	Finished    *time.Time `json:"finished,omitempty"`
}

func deliveryResultOf(d *meta.Delivery) deliveryResult {
	r := deliveryResult{ID: d.ID, Webhook: d.WebhookID, Event: d.Event.Type, EventID: d.Event.ID, Repository: d.Event.Repository,
		Digest: d.Event.Digest.String(), Queued: d.Event.Time, State: d.State, Attempts: d.Attempts,
		LastStatus: d.LastStatus, LastError: d.LastError}
	if d.Event.Chart != nil {
		r.Version = d.Event.Chart.Version
	}
	if !d.LastAttempt.IsZero() {
		r.LastAttempt = &d.LastAttempt
	}
	if d.State == meta.DeliveryPending {
		r.NextAttempt = &d.NextAttempt
	} else {
		r.Finished = &d.Finished
	}
	return r
}

func newWebhookDeliveriesCmd() *cobra.Command {
	var (
		failing bool
		limit   int
	)
	c := &cobra.Command{
		Use:   "deliveries [WEBHOOK-ID]",
		Short: "List webhook deliveries, newest first: state, attempts, last error, next attempt",
		Long: `List the deliveries of all webhooks, or of WEBHOOK-ID, newest first: the event, its state
(pending: not sent yet or waiting for a retry; succeeded: the receiver answered 2xx;
failed: attempts or time used up, so the webhook's next delivery went ahead), the number of
attempts, the last attempt's status or error, and when the next attempt is due. Finished
deliveries are kept 30 days. Read-only: safe while chartroom serve runs.` + exitCodesHelp,
		Example: `  chartroom webhook deliveries --data-dir /var/lib/chartroom
  chartroom webhook deliveries 3 --failed --config /etc/chartroom.yaml -o json`,
		Args: cobra.MaximumNArgs(1),
	}
	dbCommand(c, dbRead|dbOutput, func(cmd *cobra.Command, args []string, open openDB, output string) error {
		f := meta.DeliveryFilter{Failing: failing, Limit: limit}
		if len(args) == 1 {
			id, err := idArg(args[0], "webhook", "chartroom webhook list")
			if err != nil {
				return err
			}
			f.WebhookID = id
		}
		db, err := open()
		if err != nil {
			return err
		}
		ds, err := db.Deliveries(cmd.Context(), f)
		if err != nil {
			return err
		}
		out := cmd.OutOrStdout()
		if output == "json" {
			res := make([]deliveryResult, 0, len(ds))
			for i := range ds {
				res = append(res, deliveryResultOf(&ds[i]))
			}
			return writeJSONResult(out, res)
		}
		if len(ds) == 0 {
			fmt.Fprintln(out, "no deliveries")
			return nil
		}
		printDeliveries(out, ds)
		return nil
	}, func(f *pflag.FlagSet) {
		f.BoolVar(&failing, "failed", false, "only deliveries whose last attempt failed: failed for good, or pending a retry")
		f.IntVar(&limit, "limit", 50, "list at most this many; 0 for all")
	})
	c.Flags().SortFlags = false
	return c
}

// printDeliveries writes deliveries as a table for people; what receivers answered is
// foreign text, made safe for the terminal.
func printDeliveries(w io.Writer, ds []meta.Delivery) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tWEBHOOK\tEVENT\tREPOSITORY\tSTATE\tATTEMPTS\tLAST\tNEXT/FINISHED")
	for _, d := range ds {
		what := d.Event.Repository
		if c := d.Event.Chart; c != nil {
			what += " " + c.Version
		} else if len(d.Event.Tags) > 0 {
			what += ":" + strings.Join(d.Event.Tags, ",")
		}
		last := "-"
		switch {
		case d.LastError != "":
			last = d.LastError
		case d.LastStatus != 0:
			last = strconv.Itoa(d.LastStatus)
		}
		when := d.Finished
		if d.State == meta.DeliveryPending {
			when = d.NextAttempt
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%s\t%s\t%d\t%s\t%s\n", d.ID, d.WebhookID, d.Event.Type, termsafe.Text(what), d.State, d.Attempts,
			termsafe.Text(last), when.Local().Format(time.RFC3339))
	}
	tw.Flush()
}

func newWebhookRedeliverCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "redeliver DELIVERY-ID",
		Short: "Send a finished delivery again",
		Long: `Queue delivery DELIVERY-ID (see chartroom webhook deliveries) again, failed or succeeded:
it goes out at once, with a fresh round of attempts, before the webhook's later pending
deliveries. The receiver gets the same event id again.` + exitCodesHelp,
		Example: `  chartroom webhook redeliver 42 --data-dir /var/lib/chartroom`,
		Args:    oneArg("the delivery's ID (chartroom webhook deliveries)"),
	}
	dbCommand(c, dbWrite, func(cmd *cobra.Command, args []string, open openDB, _ string) error {
		id, err := idArg(args[0], "delivery", "chartroom webhook deliveries")
		if err != nil {
			return err
		}
		ctx := cmd.Context()
		db, err := open()
		if err != nil {
			return err
		}
		d, err := db.Redeliver(ctx, id)
		switch {
		case errors.Is(err, meta.ErrNotFound):
			return fmt.Errorf("there is no delivery %d: chartroom webhook deliveries lists them (finished ones are kept 30 days)", id)
		case errors.Is(err, meta.ErrDeliveryPending):
			return fmt.Errorf("delivery %d is still pending: it will be sent (chartroom webhook deliveries shows when)", id)
		case err != nil:
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "delivery %d (%s of %s) queued again for webhook %d\n", d.ID, d.Event.Type, termsafe.Text(d.Event.Repository), d.WebhookID)
		return nil
	}, nil)
	return c
}

// webhookNamespaceArg reads a webhook's NAMESPACE: "/" is the root namespace; any other must
// be a valid repository name prefix.
func webhookNamespaceArg(arg string) (string, error) {
	if arg == "/" {
		return "", nil
	}
	if err := registry.ValidateName(arg); err != nil {
		return "", usageError{fmt.Errorf("namespace %q: %w", arg, err)}
	}
	return arg, nil
}

// namespaceLabelOf names a namespace in messages.
func namespaceLabelOf(ns string) string {
	if ns == "" {
		return "the root namespace"
	}
	return "namespace " + ns
}

// idArg reads a positive ID argument.
func idArg(arg, what, lister string) (int64, error) {
	id, err := strconv.ParseInt(arg, 10, 64)
	if err != nil || id <= 0 {
		return 0, usageError{fmt.Errorf("%q is not a %s ID: expected a number, as %s shows", arg, what, lister)}
	}
	return id, nil
}

// readSecretFile reads a secret from a file ("-": standard input), without the line break
// at its end.
func readSecretFile(path string) (string, error) {
	var b []byte
	var err error
	if path == "-" {
		b, err = io.ReadAll(io.LimitReader(os.Stdin, 4096))
	} else {
		b, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("--secret-file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
