"""The HTTP layer of the simulator (aiohttp): middleware, the ``/api`` routes, Supabase-style auth
routes and the ``/_sim`` admin API. Handlers stay thin; behaviour lives in the services."""
