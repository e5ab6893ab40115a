"""The checkout API over the Model Context Protocol (the 2026-04-17 MCP binding).

- `binding`: the five tools, as the vendored binding and JSON Schemas define them;
- `tools`: a tool call through the same gate, idempotency and session actors as REST;
- `endpoint`: `/mcp` (Streamable HTTP, stateless), authenticated per HTTP request and
  served beside the quart-trio app on the same port.
"""
