"""Input schemas every door loads through (the REST API, the HTML admin, the CLI), so each
rule and each message is written once. Marshmallow only: nothing here imports a view."""
