/* server.c - placeholder. */
#include "server/server.h"
