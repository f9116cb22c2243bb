/* check.c - placeholder. */
#include "checker/checker.h"
