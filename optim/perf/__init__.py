"""Analytic performance models: BPRR latency, cache capacity, chain service time, contention."""
from .capacity import free_cache_slots, largest_remainder, request_shares, session_capacity
from .chains import chain_service_time, job_cost_coefficients, per_block_job_time
from .contention import admission_times
from .latency import PathTimes, hop_cost_coefficients, path_times

__all__ = ["PathTimes", "path_times", "hop_cost_coefficients", "free_cache_slots", "largest_remainder", "session_capacity",
           "request_shares", "chain_service_time", "job_cost_coefficients", "per_block_job_time", "admission_times"]
