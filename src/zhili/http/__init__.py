"""The HTTP front door shared by the JSON API (``*.api``) and the pages (``zhili.web``): the request's database
session, the authenticated principal, read sessions and paging parameters. Domains never import it."""
