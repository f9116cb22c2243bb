/* reports.h - TLS-RPT reports (RFC 8460): placeholder until issue 3. */
#ifndef STSD_REPORTS_H
#define STSD_REPORTS_H
#endif
