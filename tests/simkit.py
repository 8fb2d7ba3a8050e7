"""What the simulator's HTTP tests share: the endpoints they call, a key, a fast latency."""

AUTH = {"Authorization": "Bearer test-key"}
APIKLEY_CREATE = "/api/v1/jobs/createTask"
MODELLIX_CREATE = "/api/v1/bytedance/seedream-4.0-t2i"
FAST = 0.05
