from django.apps import AppConfig


class CourseConfig(AppConfig):
    name = "kapflow.course"
    label = "course"
    verbose_name = "Course reviews and discharge"
