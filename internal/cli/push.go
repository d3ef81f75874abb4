package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/chartroom/chartroom/internal/termsafe"
)

func newPushCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{
		Use:   "push ARCHIVE DESTINATION",
		Short: "Publish a chart archive to an OCI namespace or a chart repository",
		Long: `Publish a packaged chart (.tgz) and, when ARCHIVE.prov exists beside it, its
provenance file.

DESTINATION is either
  oci://HOST/NAMESPACE     the chart becomes oci://HOST/NAMESPACE/NAME:VERSION, pushed
                           exactly as helm push would (same manifest, same digests)
  https://HOST/NAMESPACE   the chart repository's upload API (POST /api/NAMESPACE/charts,
                           ChartMuseum-compatible); use http:// for a plain-HTTP server

Either way the chart is then served by both protocols with the same bytes.

DESTINATION names the namespace, not the chart: pushing myapp to oci://HOST/team/myapp
creates oci://HOST/team/myapp/myapp, as helm push would; push says so with a warning on
standard error.

Pushing the same archive again succeeds; other content under a published version is
refused: bump the version instead. Another archive of the same chart (packaged again at
another time) is refused too, and the error says only the packaging differs: chartroom
package makes the same bytes from the same chart every time.

Credentials: --username with --password-stdin (or --password), else CHARTROOM_USERNAME
and CHARTROOM_PASSWORD, else the login stored for HOST by chartroom login, helm registry
login or docker login. A stored login crosses the network only encrypted: it goes to
https:// repositories, to oci:// registries (over plain HTTP only with --plain-http), and
to http:// ones only on a loopback host or with --insecure-send-credentials-over-http.

A progress bar is drawn when standard error is a terminal and CI is unset.

Exit codes: 0 published, 2 usage, I/O, authentication or registry error (e.g. the version
exists with other content).`,
		Example: `  chartroom push myapp-1.4.2.tgz oci://charts.example.com/team
  chartroom push myapp-1.4.2.tgz https://charts.example.com/team
  echo "$TOKEN" | chartroom push myapp-1.4.2.tgz oci://localhost:8080/team -u ci --password-stdin --plain-http
  chartroom push myapp-1.4.2.tgz oci://charts.example.com/team -o json`,
		Args: cobra.ExactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if err := f.checkOutput(); err != nil {
				return err
			}
			cr, err := f.credentials(c)
			if err != nil {
				return err
			}
			cl, err := f.newClient(c, cr)
			if err != nil {
				return err
			}
			ctx, stop := interruptible(c)
			defer stop()
			res, err := cl.Push(ctx, args[0], args[1])
			if err != nil {
				return clientError(err)
			}
			for _, w := range res.Warnings {
				fmt.Fprintf(c.ErrOrStderr(), "warning: %s\n", termsafe.Text(w))
			}
			out := c.OutOrStdout()
			if f.output == "json" {
				return writeJSONResult(out, res)
			}
			fmt.Fprintf(out, "Pushed: %s\n", res.Ref)
			if res.ManifestDigest != "" {
				fmt.Fprintf(out, "Digest: %s\n", res.ManifestDigest)
			}
			fmt.Fprintf(out, "Chart digest: %s\n", res.Digest)
			if res.Prov {
				fmt.Fprintln(out, "Provenance: sent")
			}
			return nil
		},
	}
	f.register(cmd.Flags(), true, true)
	return cmd
}
