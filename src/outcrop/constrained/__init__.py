"""Constrained generation: tool calls and JSON output that always parse, for any text model.

A small local model is made to call tools and answer in JSON by grammar (GBNF) rather than by
hope: ``tool_calls.py`` offers the tools in the prompt, builds the call grammar and parses calls
back; ``json_output.py`` builds the grammar for a JSON-schema answer; ``schema_check.py`` repairs
what a grammar cannot express. Shared by the answer planner and the formats that read schemas.
"""
