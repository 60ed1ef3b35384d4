# hooks/module.mk: the webhooks module's objects go into libdialer.a (the
# library's rule archives all its prerequisites, so this extra one adds them).
HOOKS_SRCS := $(wildcard hooks/*.c)
HOOKS_OBJS := $(HOOKS_SRCS:%.c=$(B)/%.o)

$(LIB): $(HOOKS_OBJS)

-include $(HOOKS_OBJS:.o=.d)
