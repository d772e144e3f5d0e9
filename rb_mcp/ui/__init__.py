"""The review page (`rb-mcp ui`): a local web page to see and curate what the agent learned.

A surface over the `Bank` API like the MCP server and the CLI: `serve.run` starts it on loopback,
`app.build_app` is the ASGI app (routes in `pages` and `actions`, the guard in `security`).
"""
