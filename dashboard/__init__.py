"""What a person sees: session phases, cue rules and figure builders."""

__all__: list[str] = []
