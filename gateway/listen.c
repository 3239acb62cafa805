/* listen.c: creating the listening socket ourselves, so that port 0 works
 * (tests) and the bound port can be logged. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "gateway.h"
#include "hookbus/util.h"

int gw_listen_socket(const char *addr, int *port, char *err, size_t errlen)
{
    char host[128];
    const char *colon = strrchr(addr, ':');
    long p;
    if (!colon || hb_parse_long(colon + 1, 0, 65535, &p) < 0) {
        snprintf(err, errlen, "listen address '%s' must be host:port", addr);
        return -1;
    }
    size_t hl = (size_t)(colon - addr);
    if (hl >= sizeof(host)) {
        snprintf(err, errlen, "listen address '%s' is too long", addr);
        return -1;
    }
    memcpy(host, addr, hl);
    host[hl] = '\0';
    struct sockaddr_storage ss;
    socklen_t sl;
    memset(&ss, 0, sizeof(ss));
    if (host[0] == '[' && hl >= 2 && host[hl - 1] == ']') {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        host[hl - 1] = '\0';
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons((uint16_t)p);
        if (inet_pton(AF_INET6, host + 1, &s6->sin6_addr) != 1)
            goto bad;
        sl = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons((uint16_t)p);
        if (!host[0] || strcmp(host, "*") == 0)
            s4->sin_addr.s_addr = htonl(INADDR_ANY);
        else if (strcmp(host, "localhost") == 0)
            s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        else if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
            goto bad;
        sl = sizeof(*s4);
    }
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", HB_STRERROR(errno));
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "cannot listen on %s: %s", addr, HB_STRERROR(errno));
        close(fd);
        return -1;
    }
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                           : ((struct sockaddr_in *)&ss)->sin_port);
    return fd;
bad:
    snprintf(err, errlen, "listen address '%s': not an IP address", addr);
    return -1;
}
