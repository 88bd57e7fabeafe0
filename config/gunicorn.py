"""gunicorn's settings shared by every way the portal is served (``scripts/portal.py run`` and
docker-compose.yml pass ``--config python:config.gunicorn``; each names its own bind and workers).

The access log names the path without its query string, and no referrer: a query holds what was
searched for (an ID number in the API's ``?q=`` or ``?person_id=``) and a referrer the page's own
query, and personal data does not belong in a log every operator reads."""

# gunicorn's default, with the request line as method, path and protocol (%(U)s is the path
# without the query) and the referrer left out; the time the request took in milliseconds added.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'

# gunicorn's control socket (``gunicornc``) is not used, and its default path is one per system
# user: every gunicorn of that user (a deployment, the demo, the tests' servers, the benchmark)
# took it over from the one before, and the first to stop removed it for the others.
control_socket_disable = True
