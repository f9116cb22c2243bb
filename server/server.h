/* server.h - stsd serve: placeholder until issue 2's server lands. */
#ifndef STSD_SERVER_H
#define STSD_SERVER_H
#endif
