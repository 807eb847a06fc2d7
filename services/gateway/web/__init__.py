"""The gateway's pages (customer portal, ops console): server-rendered HTML, one template environment,
our own CSS and a vendored charting library, so a page works with no internet access and no JavaScript
build. See README.md in this folder for the kit's parts."""
