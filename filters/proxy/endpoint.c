/*
 * endpoint.c - entry-proxy's descriptors: HOST:PORT addresses, a peer's
 * name for messages, and the epoll interest of each endpoint (watch,
 * rewatch, close), which every other part goes through.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "die.h"
#include "proxy.h"

bool
address_parse(const char *text, bool passive, struct address *address, char *why, size_t size)
{
	struct addrinfo hints, *found;
	char host[256], *port;
	int status;

	if (strlen(text) >= sizeof(host) || (port = strrchr(strcpy(host, text), ':')) == NULL ||
	    port[1] == '\0') {
		snprintf(why, size, "'%s': not HOST:PORT", text);
		return false;
	}
	*port++ = '\0';
	if (host[0] == '[' && strlen(host) >= 2 && host[strlen(host) - 1] == ']') {
		memmove(host, host + 1, strlen(host));
		host[strlen(host) - 1] = '\0';
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if ((status = getaddrinfo(host[0] ? host : NULL, port, &hints, &found)) != 0) {
		snprintf(why, size, "'%s': %s", text, gai_strerror(status));
		return false;
	}
	memcpy(&address->sa, found->ai_addr, found->ai_addrlen);
	address->length = found->ai_addrlen;
	snprintf(address->text, sizeof(address->text), "%s", text);
	freeaddrinfo(found);
	return true;
}

void
peer_name(int fd, char *out, size_t size)
{
	struct sockaddr_storage sa;
	socklen_t length = sizeof(sa);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (getpeername(fd, (struct sockaddr *)&sa, &length) == 0) {
		if (sa.ss_family == AF_INET) {
			inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in *)&sa)->sin_port);
		} else if (sa.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&sa)->sin6_port);
		}
	}
	snprintf(out, size, "%s:%d", host, port);
}

void
no_delay(int fd)
{
	int one = 1;

	/* Requests and replies are small and latency is everything: no Nagle. */
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
		warnmsg("TCP_NODELAY: %s", strerror(errno));
}

void
watch(struct endpoint *endpoint, uint32_t events)
{
	struct epoll_event event = { .events = events, .data.ptr = endpoint };

	if (epoll_ctl(px.epoll, EPOLL_CTL_ADD, endpoint->fd, &event) != 0)
		die(EXIT_LOCAL, "epoll_ctl: %s", strerror(errno));
	endpoint->events = events;
}

void
rewatch(struct endpoint *endpoint, uint32_t events)
{
	struct epoll_event event = { .events = events, .data.ptr = endpoint };

	if (endpoint->fd < 0 || endpoint->events == events)
		return;
	if (epoll_ctl(px.epoll, EPOLL_CTL_MOD, endpoint->fd, &event) != 0)
		die(EXIT_LOCAL, "epoll_ctl: %s", strerror(errno));
	endpoint->events = events;
}

void
endpoint_close(struct endpoint *endpoint)
{
	if (endpoint->fd < 0)
		return;
	close(endpoint->fd);	/* which also takes it out of the epoll set */
	endpoint->fd = -1;
	endpoint->events = 0;
}
