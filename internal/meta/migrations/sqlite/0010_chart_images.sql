-- chartroom metadata, schema 10: the container images a chart version deploys.

-- images: a JSON array of {"image", "name", "source", …} (registry.Image), the images the
-- chart's templates render with default values and those its Chart.yaml declares in the
-- artifacthub.io/images annotation; '' while not extracted. images_error: why the rendered
-- images are missing (the chart does not render with its default values, …), '' when none
-- is. images_version: the version of the extraction that wrote them; 0 for a version
-- published before this migration (the registry extracts them on its first read).
ALTER TABLE chart_versions ADD COLUMN images TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN images_error TEXT NOT NULL DEFAULT '';
ALTER TABLE chart_versions ADD COLUMN images_version INTEGER NOT NULL DEFAULT 0;
