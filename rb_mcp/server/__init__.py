"""Everything that speaks MCP: the stdio server, its tools, resources and prompts, streamable HTTP,
sampling, and the demo client. The only package that imports the mcp SDK."""
