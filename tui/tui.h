/*
 * tui.h - the public interface of tui/: the drover program's commands.
 * (The manager model and the ncurses views arrive with their issues.)
 */
#ifndef DROVER_TUI_H
#define DROVER_TUI_H

#include "../common/common.h"
#include "../remote/remote.h"

int cmd_exec(int argc, char **argv);
int cmd_push(int argc, char **argv);
/* cmd_task.c: the manager's commands */
int cmd_launch(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_task_status(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_metrics(int argc, char **argv);
int cmd_stop(int argc, char **argv);
int cmd_relaunch(int argc, char **argv);
int cmd_logs(int argc, char **argv);	/* cmd_logs.c */
/* The folder with the agent builds (<dir>/<arch>/drover-agent); allocated. */
char *agent_dir_default(void);

#endif
