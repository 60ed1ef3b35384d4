# compliance: zip archives of DNC files are inflated with zlib (dnc_zip.c).
LIBS += -lz
# Program link lines were expanded before this file is read: zlib reaches them as a linker
# script input that names it.
$(B)/compliance/zlib.ld:
	@mkdir -p $(@D)
	$(Q)echo 'INPUT(-lz)' > $@
$(foreach p,$(PROGRAMS),$(eval $(B)/$(call prog_name,$(p)): $(B)/compliance/zlib.ld))
