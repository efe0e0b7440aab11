"""The admin page: a web server over the job API (see web.server)."""
