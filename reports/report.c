/* report.c - placeholder. */
#include "reports/reports.h"
