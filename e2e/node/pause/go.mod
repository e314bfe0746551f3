module kreboot.test/pause

go 1.26
