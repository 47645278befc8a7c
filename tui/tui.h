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

#endif
