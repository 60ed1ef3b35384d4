# sql/module.mk: embeds the migrations (sql/NNNN_name.sql) into the server
# library as server_migrations[] (server/migrate.h), so an installed dialerd
# needs no sql/ directory. See docs/schema.md.
#
# The generated C file depends on every migration, on the generator, and on
# a list of the migration file names that is rewritten only when it changes
# (the trick git uses for GIT-CFLAGS), so editing, adding, removing or
# renaming a migration all regenerate it.

SQL_MIGRATIONS := $(sort $(wildcard sql/[0-9][0-9][0-9][0-9]_*.sql))
SQL_GEN_C      := $(B)/gen/sql_migrations.c
SQL_GEN_O      := $(B)/gen/sql_migrations.o
SQL_GEN_LIST   := $(B)/gen/sql_migrations.list

.PHONY: sql-migrations-list-check
$(SQL_GEN_LIST): sql-migrations-list-check
	@mkdir -p $(@D)
	@echo '$(SQL_MIGRATIONS)' | cmp -s - $@ || echo '$(SQL_MIGRATIONS)' >$@

$(SQL_GEN_C): $(SQL_MIGRATIONS) $(SQL_GEN_LIST) scripts/embed-sql.sh
	@mkdir -p $(@D)
	@$(if $(Q),echo "  GEN     $@")
	$(Q)scripts/embed-sql.sh $(SQL_MIGRATIONS) >$@.tmp && mv $@.tmp $@

$(SQL_GEN_O): $(SQL_GEN_C)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

# The server library carries the migrations (server/migrate.c references them).
$(B)/libserver.a: $(SQL_GEN_O)


-include $(SQL_GEN_O:.o=.d)
