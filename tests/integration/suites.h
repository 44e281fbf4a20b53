/* The integration suites; each file contributes one. */
#ifndef PARLOR_IT_SUITES_H
#define PARLOR_IT_SUITES_H

#include <check.h>

Suite *harness_suite(void);
Suite *register_suite(void);
Suite *channel_suite(void);
Suite *process_suite(void);
Suite *control_suite(void);
Suite *account_suite(void);
Suite *store_suite(void);
Suite *client_suite(void);
Suite *history_suite(void);
Suite *game_suite(void);
Suite *hostile_suite(void);
Suite *failover_suite(void);
Suite *limits_suite(void);
Suite *privacy_suite(void);
Suite *order_suite(void);
Suite *queries_suite(void);
Suite *oper_suite(void);
Suite *ux_suite(void);
Suite *tags_suite(void);
Suite *caps_suite(void);
Suite *irssi_suite(void);
Suite *tui_suite(void);
Suite *firstday_suite(void);
Suite *tls_suite(void);
Suite *left_suite(void);
Suite *cluster_suite(void);
Suite *clustermv_suite(void);
Suite *clusterops_suite(void);
Suite *clusterx_suite(void);

#endif
