"""interview_kit: spoken interviews over the OpenAI Realtime API, kept healthy and fully recorded."""

__version__ = "0.1.0"
