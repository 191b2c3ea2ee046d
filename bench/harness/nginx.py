"""nginx as a peer: a config generated per run into a temporary directory (one worker, access log off,
keep-alive without a request limit, the same "Hello, World!" response http-hello sends), started in the
foreground and stopped with the rest. The TLS variant serves the same response with the bench's certificate."""

import os
import shutil

from . import proc

CONF = """\
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{
    use epoll;
    worker_connections 19000;
    multi_accept on;
}}
http {{
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 65;
    tcp_nodelay on;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
{tls_http}
    server {{
        listen 127.0.0.1:{port}{ssl} backlog=65535;
{tls_server}
        location / {{
            default_type text/plain;
            return 200 "Hello, World!";
        }}
    }}
}}
"""

TLS_HTTP = """\
    ssl_protocols TLSv1.3;
    ssl_session_cache shared:SSL:10m;
    ssl_session_tickets on;
    ssl_session_timeout 10m;"""


def available():
    return shutil.which("nginx") or (os.access("/usr/sbin/nginx", os.X_OK) and "/usr/sbin/nginx")


def service(ctx, name, cert=None, key=None):
    """A proc.Service running nginx on a free port (its address is set once it accepts connections)."""
    directory = os.path.join(ctx.tmp, name)
    os.makedirs(directory, exist_ok=True)
    port = proc.free_port()
    tls = cert is not None
    with open(os.path.join(directory, "nginx.conf"), "w") as f:
        f.write(CONF.format(dir=directory, port=port, ssl=" ssl" if tls else "",
                            tls_http=TLS_HTTP if tls else "",
                            tls_server=("        ssl_certificate %s;\n        ssl_certificate_key %s;" % (cert, key))
                            if tls else ""))
    argv = ctx.server_argv([available(), "-p", directory, "-c", os.path.join(directory, "nginx.conf"),
                            "-e", os.path.join(directory, "error.log")])
    svc = proc.Service(argv, address_line=False, ready=lambda: proc.wait_tcp(port, timeout=0.2))
    svc.address = "tcp:127.0.0.1:%d" % port
    svc.port = port
    return svc
