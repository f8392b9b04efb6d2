"""What the API reports about the system: queue figures, worker figures, health, schedules.

API process only; read-only.
"""
