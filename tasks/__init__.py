"""foleyflow tasks."""
import foleyflow  # noqa: F401  (offline defaults before prefect/hf imports)
