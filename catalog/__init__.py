"""foleyflow catalog."""
import foleyflow  # noqa: F401  (offline defaults before prefect/hf imports)
