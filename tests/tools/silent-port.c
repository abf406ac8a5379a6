/*
 * silent-port - listen on a loopback port and never answer: the kernel
 * completes each TCP handshake into the backlog, nobody accepts, nothing
 * is ever read or written. A server that takes connections and hangs,
 * for tests/connect.bats. Prints the port, then waits to be killed.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int
main(void)
{
	struct sockaddr_in address;
	socklen_t length = sizeof(address);
	int listener = socket(AF_INET, SOCK_STREAM, 0);

	memset(&address, 0, sizeof(address));
	address.sin_family = AF_INET;
	address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (listener < 0 || bind(listener, (struct sockaddr *)&address, sizeof(address)) != 0 ||
	    listen(listener, 64) != 0 ||
	    getsockname(listener, (struct sockaddr *)&address, &length) != 0) {
		perror("silent-port");
		return 1;
	}
	printf("%d\n", ntohs(address.sin_port));
	if (fflush(stdout) != 0)
		return 1;
	for (;;)
		pause();
}
